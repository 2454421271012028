"""`govwatch agent ...` placeholder; replaced below."""
def register(groups):
    pass
