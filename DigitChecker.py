"""Check a test digit with the model saved by model.py.

python DigitChecker.py --index 42    (same as `digitnet check --index 42`)
python DigitChecker.py               (asks for indices at a prompt)
"""

from digitnet.cli import check_main

if __name__ == "__main__":
    check_main()
