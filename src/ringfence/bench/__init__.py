"""Benchmarks behind ``ringfence bench NAME``; figures are recorded in BENCHMARKS.md."""
