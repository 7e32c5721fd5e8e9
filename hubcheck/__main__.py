from hubcheck.cli import main

main()
