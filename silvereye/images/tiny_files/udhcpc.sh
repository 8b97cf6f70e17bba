#!/bin/sh
# Called by udhcpc with deconfig, bound, renew, leasefail or nak; the lease is in the environment.
case "$1" in
deconfig)
  ip -4 addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound|renew)
  if [ "$(cat /run/ip 2>/dev/null)" != "$ip" ]; then
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" ${broadcast:+broadcast "$broadcast"}
  fi
  if [ -n "$router" ]; then
    set -- $router
    ip route replace default via "$1" dev "$interface"
  fi
  : > /etc/resolv.conf
  [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
  for server in $dns; do echo "nameserver $server" >> /etc/resolv.conf; done
  [ -n "$hostname" ] && hostname "$hostname"
  echo "$ip" > /run/ip
  ;;
esac
exit 0
