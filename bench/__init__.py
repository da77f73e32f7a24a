"""`make bench`: the app measured against the WaveSpeed simulator (a local test double) on loopback.

`python -m bench.run` runs every measurement and writes bench/README.md and bench/chart.png.
"""
