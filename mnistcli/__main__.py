from mnistcli.cli import main

# `python -m mnistcli` answers to the same name (and completion variable) as `mnist`.
main(prog_name="mnist")
