"""banger.network"""
