"""banger.images"""
