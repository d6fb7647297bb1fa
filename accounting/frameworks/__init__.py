"""Indicator frameworks shipped as data (YAML); this file only makes the folder package data."""
