"""`make bench`: the gateway measured side by side with a bare aiohttp handler and forwarder, nginx and the panel
direct.

Every figure is a ratio of two (or three) targets measured in the same run, interleaved round by round, with the
median of the rounds reported: the machine is shared and noisy, so absolute numbers from one run mean little.
Everything listens on 127.0.0.1, each load run is bounded in time, and every process started here is stopped here.
"""
