"""banger.daemon"""
