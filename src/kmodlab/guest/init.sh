#!/bin/sh
# PID 1 of the lab guest: mount the pseudo filesystems the course inspects,
# then hand over to the agent, which serves the host on a virtio-serial port.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t tmpfs tmpfs /tmp
hostname kmodlab
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
# virtio-serial carries the agent channel (see BOOT_MODULES in initramfs.py).
/sbin/kmodlab-agent --load /etc/kmodlab/boot-modules
# Booted `quiet` for speed; from now on module messages and oopses must
# reach the console (ttyS0), where the host watches for crashes.
echo 7 > /proc/sys/kernel/printk
# Commands run where the student's modules are, so `insmod hello.ko` works.
cd /work
exec /sbin/kmodlab-agent
