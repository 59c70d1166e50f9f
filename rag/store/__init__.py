"""The on-disk index: `layout` (the folder, CURRENT and checksum-verified reads), `publish` (one
writer, atomic publication), `generation` (the files of one generation), `snapshot` (a generation
loaded for queries), with its passage table (`passages`) and answer-sentence vectors (`sentences`)."""
