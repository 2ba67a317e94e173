"""Route groups, one file each; every handler is a few lines over `hive_web.views`."""
