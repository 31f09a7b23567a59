"""banger.client"""
