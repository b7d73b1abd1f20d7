print("kvlab")
