"""trainsim: simulate long-distance rail journeys on OpenStreetMap rail data."""

__version__ = "0.1.0"
