from loyalty_cli.cli import main

main()
