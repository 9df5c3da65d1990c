"""Plans: how a canonical Call runs against an upstream panel, as generators that never touch the network.

A plan yields commands (`Send`, `SendAll`, `Hold`: gateway.plans.commands) and receives their outcomes; one async
driver (gateway.plans.driver) carries them out, through a transport (gateway.plans.transport for a real panel,
gateway.plans.rehearsal for a panel that answers every call with a plausible success). So every decision a plan
makes is testable without a socket, and `panelgate matrix --calls` shows each cell's exact call sequence.

- shape.py: what a plan will be (direct, compound, fan-out, unsupported), the capability matrix's cells;
- calls.py: the plan of a call; credits.py, lineinfo.py, whole_row.py: its compound parts.
"""
