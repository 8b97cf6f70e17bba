"""Files laid into the tiny image's initramfs (boot and shutdown scripts, DHCP hook, power button)."""
