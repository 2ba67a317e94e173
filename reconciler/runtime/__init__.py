"""Container runtimes behind one small interface (``reconciler.runtime.base.Runtime``).

`local` runs each agent as a supervised process in a bubblewrap sandbox;
`nixos` drives `nixos-container`. A driver knows nothing about desired
state: it is handed a ``LaunchSpec`` and reports ``Observed`` containers.
``registry`` names them: the one list every ``--runtime`` option offers.
"""
