"""banger.store"""
