from mnistcli.cli import main

# `python -m mnistcli` answers to the same name (and completion variable) as `mnist`.
# The guard matters: worker processes (predict on many files) import the main module.
if __name__ == "__main__":
    main(prog_name="mnist")
