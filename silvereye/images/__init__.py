"""Images: the tiny image builder, the catalog, Debian package fetching."""
