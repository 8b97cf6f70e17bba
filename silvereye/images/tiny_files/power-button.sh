#!/bin/sh
# busybox acpid runs /etc/acpi/PWRF/00000080 when the power button is pressed (virsh shutdown).
poweroff
