from ragship.cli import main

main()
