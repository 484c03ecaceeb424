/* SPDX-License-Identifier: MIT */
/*
 * The only libc header that the V4L2 UAPI pulls in (videodev2.h includes <sys/time.h> outside
 * __KERNEL__). V4L2 needs exactly two of its types: struct timeval (v4l2_buffer.timestamp) and
 * struct timespec (v4l2_event.timestamp). Both are given here with the LP64 layout that glibc and the
 * kernel use on every 64-bit little-endian target, so the parse never reads a system header.
 */
#ifndef _SYS_TIME_H
#define _SYS_TIME_H

struct timeval {
	long tv_sec;
	long tv_usec;
};

struct timespec {
	long tv_sec;
	long tv_nsec;
};

#endif /* _SYS_TIME_H */
