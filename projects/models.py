"""Models of this app arrive with its domain issue; the app is installed and migrates now."""
