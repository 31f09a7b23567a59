"""banger.guest"""
