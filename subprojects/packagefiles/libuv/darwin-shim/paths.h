/* SPDX-License-Identifier: MIT */
/* The three <paths.h> names libuv uses, for macOS builds without Apple's SDK (zig's
   bundled macOS headers have no paths.h). Values as on macOS. */
#pragma once
#define _PATH_BSHELL "/bin/sh"
#define _PATH_DEVNULL "/dev/null"
#define _PATH_DEFPATH "/usr/bin:/bin"
