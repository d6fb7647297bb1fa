"""Lingtan's pure domain core: park model, quantities, wire contract and carbon accounting.

Nothing in this package does I/O, reads the clock or imports a protocol library; every other
package may import it.
"""
