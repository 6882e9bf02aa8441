"""Infrastructure the rest of the package builds on, free of the method and of each other's
tasks: `atomic_files` (writes a kill cannot tear, writable-folder checks), `collectives`
(the DDP operations methods and trainers share, no-ops without a process group),
`typed_mappings` (typed dataclasses from YAML mappings, one-line errors) and
`argument_checks` (the public functions' argument checks)."""
