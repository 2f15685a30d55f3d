def data():
    with open("data.txt") as f:  # relative: the working folder's
        return f.read().strip()
