"""`python -m digitnet ...` is the `digitnet` command."""

from digitnet.cli import main

if __name__ == "__main__":
    main()
