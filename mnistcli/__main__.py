from mnistcli.cli import main

main()
