#!/bin/busybox sh
# The "installer" of the synthetic test ISO: does what Anaconda's dracut
# stage does first (find the disc by label, fetch inst.ks), prints the
# kickstart to the serial console and powers off. Lines start with SYNTH: so
# a test can read them.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "SYNTH: cmdline: $(cat /proc/cmdline)"
for m in $(cat /modules.order); do
    insmod "/lib/modules/$m.ko" || echo "SYNTH: cannot load $m"
done

ks=; stage2=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        inst.ks=*) ks=${arg#inst.ks=} ;;
        inst.stage2=*) stage2=${arg#inst.stage2=} ;;
    esac
done

# hd:LABEL=<udev-escaped label>[:<path>] -> the block device carrying that label.
label_of() { v=${1#hd:LABEL=}; printf '%b' "${v%%:*}"; }
find_disc() {
    i=0
    while [ $i -lt 100 ]; do
        dev=$(findfs "LABEL=$1" 2>/dev/null) && { echo "$dev"; return 0; }
        i=$((i + 1)); sleep 0.1
    done
    return 1
}

stage2_label=$(label_of "$stage2")
if dev=$(find_disc "$stage2_label"); then
    echo "SYNTH: stage2 disc '$stage2_label' is $dev"
else
    echo "SYNTH: stage2 disc '$stage2_label' not found"
fi
if [ -n "$ks" ]; then
    ks_label=$(label_of "$ks")
    ks_path=${ks#hd:LABEL=*:}
    mkdir -p /mnt
    if dev=$(find_disc "$ks_label") && mount -t iso9660 -o ro "$dev" /mnt && [ -f "/mnt$ks_path" ]; then
        echo "SYNTH: kickstart $ks_path found on $dev labelled '$ks_label'"
        echo "SYNTH-KS-BEGIN"
        cat "/mnt$ks_path"
        echo "SYNTH-KS-END"
    else
        echo "SYNTH: kickstart $ks_path not found on a disc labelled '$ks_label'"
    fi
else
    echo "SYNTH: no inst.ks: an interactive install would start here"
fi
echo "SYNTH: done"
poweroff -f
