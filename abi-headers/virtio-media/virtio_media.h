/* SPDX-License-Identifier: MIT */
/*
 * The virtio-media protocol (virtio 1.4, 5.22 "Media Device", device ID 48): every structure and
 * constant of the device-type section, written out from the specification text. All fields are
 * little-endian. It is parsed with the V4L2 UAPI headers by the same pipeline, so the protocol types of
 * the toolkit are generated like the V4L2 ones.
 */
#ifndef _VIRTIO_MEDIA_H
#define _VIRTIO_MEDIA_H

#include <linux/errno.h>
#include <linux/types.h>
#include <linux/videodev2.h>

/* Device ID. */
#define VIRTIO_ID_MEDIA 48

/* Virtqueues. */
#define VIRTIO_MEDIA_COMMANDQ 0
#define VIRTIO_MEDIA_EVENTQ 1

/* Shared memory region that holds MMAP buffers. */
#define VIRTIO_MEDIA_SHM_MMAP 0

/* Device configuration layout. */
struct virtio_media_config {
	__le32 device_caps;
	__le32 device_type;
	__u8 card[32];
};

/* Commands. */
#define VIRTIO_MEDIA_CMD_OPEN 1
#define VIRTIO_MEDIA_CMD_CLOSE 2
#define VIRTIO_MEDIA_CMD_IOCTL 3
#define VIRTIO_MEDIA_CMD_MMAP 4
#define VIRTIO_MEDIA_CMD_MUNMAP 5

/* Header for all virtio commands from the driver to the device on the commandq. */
struct virtio_media_cmd_header {
	__le32 cmd;
	__le32 __reserved;
};

/* Header for all virtio responses from the device to the driver on the commandq. */
struct virtio_media_resp_header {
	__le32 status;
	__le32 __reserved;
};

struct virtio_media_cmd_open {
	struct virtio_media_cmd_header hdr;
};

struct virtio_media_resp_open {
	struct virtio_media_resp_header hdr;
	__le32 session_id;
	__le32 __reserved;
};

/* CLOSE has no response. */
struct virtio_media_cmd_close {
	struct virtio_media_cmd_header hdr;
	__le32 session_id;
	__le32 __reserved;
};

/* Followed by the ioctl payload in the device-readable part for _IOW and _IOWR ioctls. */
struct virtio_media_cmd_ioctl {
	struct virtio_media_cmd_header hdr;
	__le32 session_id;
	__le32 code;
};

/* Followed by the ioctl payload in the device-writable part for _IOR and _IOWR ioctls. */
struct virtio_media_resp_ioctl {
	struct virtio_media_resp_header hdr;
};

#define VIRTIO_MEDIA_MMAP_FLAG_RW (1 << 0)

struct virtio_media_cmd_mmap {
	struct virtio_media_cmd_header hdr;
	__le32 session_id;
	__le32 flags;
	__le32 offset;
};

struct virtio_media_resp_mmap {
	struct virtio_media_resp_header hdr;
	__le64 driver_addr;
	__le64 len;
};

struct virtio_media_cmd_munmap {
	struct virtio_media_cmd_header hdr;
	__le64 driver_addr;
};

struct virtio_media_resp_munmap {
	struct virtio_media_resp_header hdr;
};

/* Memory types: the V4L2 memory types under their virtio names. */
enum virtio_media_memory {
	VIRTIO_MEDIA_MMAP = V4L2_MEMORY_MMAP,
	VIRTIO_MEDIA_SHARED_PAGES = V4L2_MEMORY_USERPTR,
	VIRTIO_MEDIA_OBJECT = V4L2_MEMORY_DMABUF,
};

/* Describes one contiguous area of driver memory behind a SHARED_PAGES pointer. */
struct virtio_media_sg_entry {
	__le64 start;
	__le32 len;
	__le32 __reserved;
};

/* Events. */
#define VIRTIO_MEDIA_EVT_ERROR 0
#define VIRTIO_MEDIA_EVT_DQBUF 1
#define VIRTIO_MEDIA_EVT_EVENT 2

/* Header for events queued by the device for the driver on the eventq. */
struct virtio_media_event_header {
	__le32 event;
	__le32 session_id;
};

struct virtio_media_event_error {
	struct virtio_media_event_header hdr;
	__le32 errno;
	__le32 __reserved;
};

#define VIRTIO_MEDIA_MAX_PLANES 8

struct virtio_media_event_dqbuf {
	struct virtio_media_event_header hdr;
	struct v4l2_buffer buffer;
	struct v4l2_plane planes[VIRTIO_MEDIA_MAX_PLANES];
};

struct virtio_media_event_event {
	struct virtio_media_event_header hdr;
	struct v4l2_event event;
};

#endif /* _VIRTIO_MEDIA_H */
