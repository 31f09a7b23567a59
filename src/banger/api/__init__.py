"""banger.api"""
