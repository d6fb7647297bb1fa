"""The shared kernel: what every process agrees on, with only light dependencies.

The platform config, the park model, the vocabulary of quantities, the MQTT wire contract,
device profiles with their register codec, and the park-local calendar. The gateway installs
with nothing more than this; every other package may import it, and it imports none of them.
"""
