import sys

prompt = sys.argv[1]
if "boom" in prompt:
    sys.exit(3)
print(prompt.upper())
