"""Interop with the tools users already have: Live Link Face (CSV values, UDP packets) and rig presets."""
