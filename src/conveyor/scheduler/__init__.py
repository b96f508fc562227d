"""Leader duties: reaping expired leases and pruning finished tasks.

Every node may run them; a lease row in the store makes exactly one node act for each
duty at a time, so adding nodes never doubles the work.
"""
