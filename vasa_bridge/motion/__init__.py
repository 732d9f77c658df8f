"""Motion space: frame layout, clips, and clip file formats."""
