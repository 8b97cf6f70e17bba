#!/bin/sh
# silvereye-tiny shutdown script, run by busybox init (::shutdown) before it powers off.
echo "silvereye-tiny: shutting down"
killall dropbear httpd udhcpc acpid 2>/dev/null
sync
umount /data 2>/dev/null
