"""Shared foundations: small helpers every stage may use. Nothing here imports another project package."""
