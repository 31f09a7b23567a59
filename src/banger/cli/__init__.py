"""banger.cli"""
