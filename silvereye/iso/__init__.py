"""The silvereye installer DVD: remastering a RHEL-9-family or Fedora ISO.

- ``xorriso``: reading an ISO (volume id, files, El Torito report) and writing the new one;
- ``menus``: adding the silvereye entries to isolinux and GRUB menus (pure text);
- ``efiboot``: the grub.cfg inside the FAT El Torito EFI image;
- ``remaster``: the ``silvereye iso build`` steps, with progress;
- ``synthetic``: a small installer ISO with the same boot layout, for tests.

The boot-menu templates live in ``templates/`` (the top-level ``iso/`` directory).
"""
