"""The AWS API stack served by ``silvereye serve``: one gateway, one package per service."""
