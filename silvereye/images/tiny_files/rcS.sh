#!/bin/sh
# silvereye-tiny boot script, run once by busybox init (::sysinit) as PID 1's child.
# Brings the guest up the way a cloud image does: network by DHCP, identity and
# key from the metadata service, SSH, a web page, user-data, then one clear
# "boot complete" line on the serial console for whoever is waiting.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
say() { echo "silvereye-tiny: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /run /tmp
mount -t devpts devpts /dev/pts
say "starting on Linux $(uname -r)"
hostname silvereye-tiny
ip link set lo up

# Drivers, in dependency order (computed when the image was built).
while read -r module; do
  insmod "/lib/modules/$module.ko" 2>/dev/null || say "module $module did not load"
done < /etc/modules.order

# The root disk, if the instance has one: formatted on first boot, then kept.
if grep -qs 0x0002 /sys/bus/virtio/devices/*/device; then
  i=0
  while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
fi
if [ -b /dev/vda ]; then
  mkdir -p /data
  if [ "$(hexdump -s 1080 -n 2 -e '2/1 "%02x"' /dev/vda)" != "53ef" ]; then
    say "formatting the root disk /dev/vda (first boot)"
    mke2fs -q -L silvereye-data /dev/vda >/dev/null 2>&1
  fi
  if mount -t ext4 -o sync /dev/vda /data; then
    say "root disk /dev/vda mounted on /data"
  else
    say "cannot mount the root disk /dev/vda"
  fi
fi

# Network: DHCP on eth0 (udhcpc stays in the background to renew the lease).
IP=none
if ip link set eth0 up 2>/dev/null; then
  udhcpc -i eth0 -s /etc/udhcpc.script -t 30 -T 1 -A 2 -b -p /run/udhcpc.pid >/dev/null 2>&1
  IP=$(cat /run/ip 2>/dev/null || echo none)
  say "eth0 address $IP"
else
  say "no network interface eth0"
fi

# The metadata service (EC2's 169.254.169.254).
MD=http://169.254.169.254/latest
# (busybox 1.35 wget crashes with -T, so the timeout comes from the timeout applet)
md() { timeout 3 wget -q -O "$2" "$MD/$1" 2>/dev/null; }
IID=unknown
i=0
while [ $i -lt 15 ]; do
  if md meta-data/instance-id /run/instance-id; then
    IID=$(tr -cd 'a-z0-9-' < /run/instance-id)
    break
  fi
  i=$((i + 1))
  sleep 1
done
if [ "$IID" = unknown ]; then
  say "the metadata service did not answer"
else
  say "metadata: instance-id $IID"
fi
mkdir -p /root/.ssh
chmod 700 /root/.ssh
if md meta-data/public-keys/0/openssh-key /run/openssh-key && [ -s /run/openssh-key ]; then
  cp /run/openssh-key /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
  say "metadata: installed the public key for root"
fi

# SSH with a host key made on this boot, printed the way cloud-init prints it.
mkdir -p /etc/dropbear
HOSTKEY=/etc/dropbear/dropbear_ed25519_host_key
PUBLIC=$(dropbearkey -t ed25519 -f $HOSTKEY 2>/dev/null | grep '^ssh-')
dropbear -r $HOSTKEY -p 22 -s -P /run/dropbear.pid
echo "-----BEGIN SSH HOST KEY KEYS-----"
echo "$PUBLIC"
echo "-----END SSH HOST KEY KEYS-----"

# A web page naming the instance.
mkdir -p /var/www
cat > /var/www/index.html <<PAGE
<!DOCTYPE html>
<html><head><title>silvereye-tiny $IID</title></head>
<body><h1>silvereye-tiny</h1><p>instance-id: $IID</p><p>address: $IP</p></body></html>
PAGE
httpd -p 80 -h /var/www

# The power button (a clean stop from the host) powers off through init.
acpid -c /etc/acpi -l /run/acpid.log

# User-data that is a script (begins with #!) runs once per boot, as root.
if md user-data /run/user-data && [ "$(head -c 2 /run/user-data)" = "#!" ]; then
  chmod 700 /run/user-data
  say "running user-data"
  /run/user-data < /dev/null
  say "user-data exited with status $?"
fi

say "boot complete instance-id=$IID ip=$IP uptime=$(cut -d" " -f1 /proc/uptime)"
