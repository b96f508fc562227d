"""The pure domain of Conveyor: values and rules, no I/O and no third-party imports."""
