/*
 * Builds the out-of-tree virtio-media driver against kernels older than the one its source follows. The check
 * force-includes this header (KCFLAGS=-include ...), so the driver's source stays as published. Each shim picks
 * the kernel's own function by the number of arguments a call passes, and only where that kernel's API differs.
 */
#ifndef VIRTIO_MEDIA_CHECK_COMPAT_H
#define VIRTIO_MEDIA_CHECK_COMPAT_H

#include <linux/version.h>
#include <linux/string.h>
#include <media/videobuf2-memops.h>

#define VIRTIO_MEDIA_COMPAT_PICK3(_1, _2, _3, name, ...) name

/* Linux 6.2 added the `write` argument to vb2_create_framevec(); 6.1 pins every user page for writing. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define VIRTIO_MEDIA_COMPAT_FRAMEVEC3(start, length, write) vb2_create_framevec(start, length)
#define VIRTIO_MEDIA_COMPAT_FRAMEVEC2(start, length) vb2_create_framevec(start, length)
#define vb2_create_framevec(...) \
	VIRTIO_MEDIA_COMPAT_PICK3(__VA_ARGS__, VIRTIO_MEDIA_COMPAT_FRAMEVEC3, VIRTIO_MEDIA_COMPAT_FRAMEVEC2)(__VA_ARGS__)
#endif

/* strscpy(dest, src) with the size taken from the destination array exists from Linux 6.8. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 8, 0)
#define VIRTIO_MEDIA_COMPAT_STRSCPY3(dest, src, size) strscpy(dest, src, size)
#define VIRTIO_MEDIA_COMPAT_STRSCPY2(dest, src) strscpy(dest, src, sizeof(dest))
#define strscpy(...) \
	VIRTIO_MEDIA_COMPAT_PICK3(__VA_ARGS__, VIRTIO_MEDIA_COMPAT_STRSCPY3, VIRTIO_MEDIA_COMPAT_STRSCPY2)(__VA_ARGS__)
#endif

#endif
