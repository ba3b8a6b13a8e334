print("dbpool-demo: not yet implemented")
